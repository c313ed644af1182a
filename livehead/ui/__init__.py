"""What the user sees and presses beside the video: keymap and controls, overlays, global hotkeys."""
