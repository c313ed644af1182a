"""Avatar photos: decoding and face detection (``photo``) and the folder of avatars that hotkeys switch between (``library``)."""
