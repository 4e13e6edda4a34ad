"""`python -m service`: run the API from the environment (see README, "Configuration").

    python -m service                 start the API
    python -m service migrate         apply pending migrations
    python -m service migrate down N  undo the last N migrations (0: all)
"""

from __future__ import annotations

import sys

from service.server import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
