"""Pure image code: safe decoding (``images.decode_image``) and face detection
(``faces.make_detector``: YuNet default, Haar fallback); the emotion classifier comes next.
No web or database imports here."""
