"""The face model every stage shares: MediaPipe landmark index sets and pose geometry (pure functions)."""
