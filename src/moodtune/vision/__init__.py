"""Pure image code: safe decoding (``images.decode_image``); face detection and the emotion
classifier come next. No web or database imports here."""
