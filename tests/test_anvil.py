"""Starting anvil: a clear error when it is missing or its port is taken."""

import socket

import pytest

from daisee_lab.chain import Chain
from daisee_lab.chain.anvil import Anvil, AnvilError, free_port


def test_port_taken_is_a_clear_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(AnvilError, match=f"port {port} on 127.0.0.1 is already taken"):
            Anvil(port=port).start()


@pytest.mark.parametrize("host, reason", [
    ("192.0.2.1", "not an address of this machine"),  # TEST-NET-1 (RFC 5737): nobody's
    ("bogus.invalid", "does not resolve"),  # RFC 2606: never resolves
])
def test_a_port_on_a_host_that_is_not_this_machine_is_a_clear_error(host, reason):
    with pytest.raises(AnvilError, match=f"cannot listen on {host}: {reason}"):
        free_port(host)
    with pytest.raises(AnvilError, match=f"cannot listen on {host}"):
        Anvil(host=host)


def test_missing_anvil_says_how_to_install(monkeypatch):
    monkeypatch.setattr("daisee_lab.chain.anvil.node_modules_dirs", lambda: [])
    monkeypatch.setenv("PATH", "")
    with pytest.raises(AnvilError, match="make setup"):
        Anvil().start()


def test_anvil_serves_a_chain_and_stops(anvil_node):
    node = Anvil(accounts=3).start()
    try:
        assert node.alive()
        chain = Chain(node.url)
        assert len(chain.accounts) == 3
        assert chain.accounts[0].address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    finally:
        node.stop()
    assert not node.alive()
