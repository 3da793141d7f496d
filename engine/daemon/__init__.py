"""The process that runs the campaign unattended."""
