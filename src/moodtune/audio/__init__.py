"""Pure audio code: decoding to mono at the analysis rate (``decode``), log-mel spectrograms
(``mel``) and DSP estimates of tempo, key/mode and loudness (``features``); the CNN embedding
comes next. No web or database imports here."""
