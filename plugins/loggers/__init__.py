"""Built-in loggers: plugins on the cell event hooks that write logs beside the records."""
