"""`sshgate demo`, and the real-sshd environment and client identity helpers that the demo,
the tests and the benchmark share."""

from sshgate.demo.identity import ClientIdentity
from sshgate.demo.sshd import EnvironmentServer, SSHDError, free_port

__all__ = ["ClientIdentity", "EnvironmentServer", "SSHDError", "free_port"]
