"""Self-training: learning from unlabelled texts, built on the core training loop of ``train/``.

A teacher trained on the labelled texts (with two more from other seeds) labels the unlabelled texts;
a student then learns from the labelled texts plus the most confident of those pseudo-labels.
``settings`` holds the recipes, ``pseudo_labels`` which predictions are kept and their files,
``teachers`` the labelling by several teachers, ``soup`` several students averaged into one model,
``rounds`` the run itself (teacher, labelling, student), resumable at every step; ``pool`` what
training one more model of the run needs.
"""
