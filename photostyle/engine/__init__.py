"""The engine: Deep Photo Style Transfer, its regulariser, the colour maps, the controls and the upsampling.

Arrays in, arrays out: nothing here reads or writes files.
"""
