import Engine
import Glibc

exit(CLI.main(CommandLine.arguments))
