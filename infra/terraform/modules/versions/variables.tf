# This module has no inputs: it only publishes the pinned versions (see main.tf).
