"""sciPT: pre-training on scientific data.

Shared machinery (this package) specialised by domain plugins (``sciPT.domains``) with user
pipelines on top (``sciPT.tasks``). README.md says what each command does, and its "Layout" section
where each part lives.
"""

__version__ = "0.1.0"
