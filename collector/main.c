#include <stdio.h>
int main(void)
{
    fputs("vantage-collector: not built yet\n", stderr);
    return 2;
}
