from liveobs.cli._root import run

run()
