"""The pipeline's stages, one module each, in data-flow order:

capture → tracking → smoothing → motion → (animators/) → compose

Each stage is plain functions or a small class with an explicit state object; the threads that
run them live in :mod:`livehead.pipeline`.
"""
