"""Pure audio code: decoding to mono at the analysis rate (``decode``) and log-mel spectrograms
(``mel``); the CNN embedding and DSP features come next. No web or database imports here."""
