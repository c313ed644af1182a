"""One module per ``livehead SUBCOMMAND``; each exposes ``main(argv) -> int``. ``livehead.cli`` routes to them."""
