"""What a copy may be (its content types and sizes) and what an upload takes."""
