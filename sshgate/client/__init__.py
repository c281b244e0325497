"""The user side of sshgate: state under SSHGATE_HOME, the API client, the ssh_config
snippet, and the fast `cert ensure` path. Imports stay light: `cert ensure` runs before
every SSH connection."""
