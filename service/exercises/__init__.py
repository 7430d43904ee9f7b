"""Exercise files: schema, validation, inputs, catalog and the weak-test linter."""
