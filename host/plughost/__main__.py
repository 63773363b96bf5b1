"""`python -m plughost`: the `plughost` command."""

from plughost.cli import main

if __name__ == "__main__":
    main(prog_name="plughost")
