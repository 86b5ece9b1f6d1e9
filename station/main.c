/* safehouse-station: placeholder while the station is being built. */
#include <stdio.h>
int main(void)
{
	fprintf(stderr, "safehouse-station: not built yet\n");
	return 1;
}
