"""Built-in benchsuite plugins, registered through the `benchsuite` entry points."""
