"""The lesson: the NUCS argument step by step (`steps`), with the label-noise experiment of
step c (`label_noise`) and the toy model of Section 3.2 for step e (`toy_model`)."""
