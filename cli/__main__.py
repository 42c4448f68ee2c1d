from actgrad.cli.entry import main

main()
