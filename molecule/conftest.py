"""What every role scenario's testinfra checks share (pytest finds this conftest above
each molecule/<scenario>/tests/)."""

import pytest


@pytest.fixture
def listeners(host):
    """``listeners(port)``: every address something listens on for that TCP port. A check
    bound to one address (``tcp://0.0.0.0:8002``) misses a listener on 127.0.0.1 or on
    the container's own address; this one does not."""

    def on(port: int) -> set[str]:
        found = set()
        for spec in host.socket.get_listening_sockets():
            if spec.startswith("tcp://"):
                address, _, listened = spec[len("tcp://"):].rpartition(":")
                if listened == str(port):
                    found.add(address)
        return found

    return on
