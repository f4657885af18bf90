"""runway-relay: submit Runway tasks through CometAPI, receive their callbacks, fan them out."""

__version__ = "0.1.0"
# The variable naming the config file: here, so that the CLI names it in its help without
# importing the config's models.
CONFIG_ENV = "RECEIVER_CONFIG"
