from shufflecalc.cli import main

main()
