"""Configuration, runner, run store, metrics, plots and CLI of the suite."""
