"""sciPT: pre-training on scientific data.

Shared machinery (this package) specialised by domain plugins (``sciPT.domains``) with user
pipelines on top (``sciPT.tasks``). See DESIGN.md for the map.
"""

__version__ = "0.1.0"
