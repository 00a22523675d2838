"""Commands of this group are registered on scalinglab.cli.app.app."""
