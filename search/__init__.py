"""Monte Carlo Tree Search with self-critique, the search tree, and tree -> data builders."""
