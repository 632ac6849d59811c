import sys

from monet_gan.cli import main

sys.exit(main())
