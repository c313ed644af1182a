"""Speed measurement: the pipeline benchmark behind ``livehead bench`` and the network-only GPU benchmark."""
