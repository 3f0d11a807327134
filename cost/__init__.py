"""The monthly AWS cost model (`make cost`): measured calls, published prices, stated assumptions."""
