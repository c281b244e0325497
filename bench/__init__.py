"""sshgate's benchmark: a direct OpenSSH connection, an OpenSSH bastion (ProxyJump) and the
gateway, side by side on loopback. Run it with `python -m bench.run`; see bench/README.md."""
