"""The `sshgate` command line: entry point in main.py, commands loaded lazily by app.py."""
