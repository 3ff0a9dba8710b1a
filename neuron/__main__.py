from neuron.cli import main

main()
