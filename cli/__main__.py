from actgrad.cli.app import main

main()
