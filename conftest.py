pytest_plugins = ["servicekit.testing"]
