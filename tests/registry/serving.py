"""What the test servers (faultproxy.py, tokenserver.py) share: announcing the port they got
and serving until stopped."""

import os


def announce_and_serve(server, port_file):
    """Writes the server's port to port_file (atomically, so a reader never sees half of it),
    then serves until interrupted. Returns the process exit status."""
    if port_file:
        tmp = port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(server.server_address[1]))
        os.rename(tmp, port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
