"""Keys' and apps' rows."""
