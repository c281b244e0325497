"""Gateway.reload (what SIGHUP calls): new configuration and host keys for new connections,
published in the store, while an open session keeps going."""

from __future__ import annotations

import asyncssh

from sshgate.config import load_config
from sshgate.ssh_gateway.upstream import UpstreamSigner
from tests.e2e.test_gateway_metrics import Running, World, connect, running, world

__all__ = ["running", "world"]  # fixtures shared with test_gateway_metrics


async def test_reload_swaps_host_keys_and_configuration_without_dropping_a_session(
    running: Running, world: World
) -> None:
    gateway = running.gateway
    old_key = gateway.host_keys[0].export_public_key()
    new_key = asyncssh.generate_private_key("ssh-ed25519")
    async with connect(running, running.service, [(running.key, running.cert)]) as before:
        assert before.get_server_host_key().export_public_key() == old_key
        process = await before.create_process("cat", encoding=None)
        process.stdin.write(b"before\n")
        assert await process.stdout.readline() == b"before\n"

        config = load_config(world.data / "config.toml", env={"SSHGATE_GATEWAY_IDLE_TIMEOUT": "7"})
        signer = UpstreamSigner(asyncssh.read_private_key(world.data / "upstream_ca.key"))
        await gateway.reload(config, [new_key], signer)

        assert gateway.config.gateway.idle_timeout == 7
        async with connect(running, running.service, [(running.key, running.cert)]) as after:
            assert after.get_server_host_key().export_public_key() == new_key.export_public_key()
            assert (await after.run("echo after", encoding=None)).stdout == b"after\n"
        process.stdin.write(b"still open\n")
        assert await process.stdout.readline() == b"still open\n"
        process.stdin.write_eof()
        assert (await process.wait()).exit_status == 0
    published = {key.public_key for key in await gateway.store.list_gateway_host_keys()}
    expected = " ".join(new_key.export_public_key("openssh").decode().split()[:2])
    assert expected in published
