if __name__ == "__main__":
    # imported lazily: spawned workers re-import this module as __mp_main__ and need none of the CLI
    from portkit.cli import run

    run()
