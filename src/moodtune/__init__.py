"""moodtune: a self-hostable music recommender that reads how you feel.

Sub-packages: ``recommend`` (pure ranking core), ``catalog`` (persistence),
``api`` (HTTP), ``cli`` (command line).
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
