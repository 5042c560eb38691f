from tollgate.cli.main import main

main()
