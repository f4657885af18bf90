"""How many polls may go at once across replicas: the poll budget."""
