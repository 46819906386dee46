"""The bundled Zhangqiu demo network (GTFS files written by ``transit.demo.make_network``)."""
