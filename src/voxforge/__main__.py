from voxforge.cli import main

main()
