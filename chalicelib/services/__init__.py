"""The domain: plain classes that take their collaborators in the constructor."""
